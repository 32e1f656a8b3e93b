"""The journal: an append-only double-entry ledger behind every balance, and payouts.

Chart of accounts (an entry's ``amount`` is signed integer minor units: debit > 0, credit < 0;
the entries of one journal transaction sum to zero)::

    code               type        kept per            meaning
    receivable         asset       plan, installment   principal the customer owes on a plan
    fee_receivable     asset       plan, installment   late fees the customer owes (section 13)
    cash               asset       -                   cash clearing: collections in, payouts out
    merchant_payable   liability   merchant            what the provider owes the merchant for the
                                                       goods it financed, less refunds it granted
    refunds_owed       liability   user                refunded money the customer already paid,
                                                       owed back to them until the payout settles
    fee_income         income      -                   late fees assessed
    fee_waivers        contra-inc. -                   late fees waived

The postings of each kind (``ledger.models.Kind``)::

    plan_opened          Dr receivable (each installment)   Cr merchant_payable
    repayment            Dr cash                             Cr receivable (each installment paid)
    repayment_reversed   Dr receivable (each installment)    Cr cash
    refund_applied       Dr merchant_payable                 Cr receivable (each installment reduced)
    refund_payout        Dr merchant_payable                 Cr refunds_owed
    payout_settled       Dr refunds_owed                     Cr cash
    fee_assessed         Dr fee_receivable (installment)     Cr fee_income
    fee_waived           Dr fee_waivers                      Cr fee_receivable (installment)

    (repayment and repayment_reversed move fee_receivable too, for the part that paid late fees)

So for every plan and installment: ``amount`` = the plan_opened debits, ``paid_amount`` = minus
the repayment and repayment_reversed lines (on receivable and fee_receivable), ``fee_paid_amount``
= minus those on fee_receivable, ``refunded_amount`` = minus the refund_applied lines,
``fee_amount`` = the fee_assessed debits, ``fee_waived_amount`` = minus the fee_waived credits, and
the outstanding amount = the balance of receivable + fee_receivable.

This app sits below ``plans`` (it imports no domain app above it): plans, users, merchants,
refunds and repayments are referenced by id.
"""
