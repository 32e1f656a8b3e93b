"""Customers of the BNPL provider ("users" in the API).

Phone, passport, card and birth date are stored encrypted; equality lookups use keyed
hashes; responses and the admin read only the masks, computed once at write time, so
no read path ever decrypts personal data.
"""
import uuid

from django.db import models

from bnpl.crypto import EncryptedTextField
from bnpl.modelbase import Model
from bnpl.money import MoneyModelField


class UserStatus(models.TextChoices):
    NORMAL = "NORMAL"
    DEBT_USER = "DEBT_USER"


class Customer(Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    full_name = models.CharField(max_length=200)

    phone_number = EncryptedTextField()
    phone_hash = models.CharField(max_length=64, db_index=True)
    phone_mask = models.CharField(max_length=16)

    passport_number = EncryptedTextField()
    passport_hash = models.CharField(max_length=64)
    passport_mask = models.CharField(max_length=20)

    date_of_birth = EncryptedTextField(help_text="ISO date, encrypted.")
    date_of_birth_mask = models.CharField(max_length=10)

    card_number = EncryptedTextField(null=True, blank=True)
    card_mask = models.CharField(max_length=19, null=True, blank=True)

    status = models.CharField(max_length=16, choices=UserStatus.choices, default=UserStatus.NORMAL)
    # Outstanding plus a new plan's total may not exceed it (API.md §12); null: no limit.
    credit_limit = MoneyModelField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "users_customer"
        verbose_name = "user (customer)"
        constraints = [
            models.UniqueConstraint(fields=["passport_hash"], name="customer_passport_unique"),
            models.CheckConstraint(condition=models.Q(status__in=UserStatus.values), name="customer_status_valid"),
            models.CheckConstraint(condition=models.Q(credit_limit__isnull=True) | models.Q(credit_limit__gte=0),
                                   name="customer_credit_limit_non_negative"),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="customer_created_idx"),
            models.Index(fields=["status"], name="customer_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.phone_mask})"

    @property
    def available_credit(self):
        """``credit_limit`` minus what is outstanding, never below 0; ``None`` without a limit.
        Needs the ``outstanding_amount`` annotation of ``users.selectors.with_credit``."""
        if self.credit_limit is None:
            return None
        return max(self.credit_limit - self.outstanding_amount, 0)

    # Fields whose plaintext must never be loaded by a read path.
    ENCRYPTED_FIELDS = ("phone_number", "passport_number", "date_of_birth", "card_number")
