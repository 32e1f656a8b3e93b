"""A refund's view of the journal (API.md §7 v1.1): its ``allocations`` and its ``payout_id``.

The allocations are the refund's ``refund_applied`` journal lines (stored once, in the journal);
a page of refunds reads them, and the payouts, in two queries whatever its size.
"""
from drf_yasg.utils import swagger_serializer_method
from rest_framework import serializers

from bnpl.api_fields import MoneyField
from ledger.selectors import attach_refund_ledger


class RefundAllocationSerializer(serializers.Serializer):
    installment_id = serializers.UUIDField()
    amount = MoneyField(help_text="What the refund took off this installment's outstanding amount.")


class RefundLedgerListSerializer(serializers.ListSerializer):
    def to_representation(self, data):
        refunds = list(data.all() if hasattr(data, "all") else data)
        attach_refund_ledger(refunds=refunds)
        return super().to_representation(refunds)


class RefundLedgerFields(serializers.Serializer):
    allocations = serializers.SerializerMethodField()
    payout_id = serializers.SerializerMethodField()

    @swagger_serializer_method(serializer_or_field=RefundAllocationSerializer(many=True))
    def get_allocations(self, refund) -> list:
        """What an approved refund took off each installment; empty before approval."""
        attach_refund_ledger(refunds=[refund])
        return serializers.ListSerializer(
            [{"installment_id": i, "amount": a} for i, a in refund.ledger_allocations],
            child=RefundAllocationSerializer()).data

    @swagger_serializer_method(serializer_or_field=serializers.UUIDField(allow_null=True))
    def get_payout_id(self, refund) -> str | None:
        """The payout of a refund with a ``payout_amount`` above zero; null otherwise."""
        attach_refund_ledger(refunds=[refund])
        return str(refund.payout_id) if refund.payout_id else None
