"""Customers of the BNPL provider ("users" in the API).

Phone, passport, card and birth date are stored encrypted; equality lookups use keyed
hashes; responses and the admin read only the masks, computed once at write time, so
no read path ever decrypts personal data.
"""
import uuid

from django.db import models

from bnpl.crypto import EncryptedTextField


class UserStatus(models.TextChoices):
    NORMAL = "NORMAL"
    DEBT_USER = "DEBT_USER"


class Customer(models.Model):
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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "users_customer"
        verbose_name = "user (customer)"
        constraints = [
            models.UniqueConstraint(fields=["passport_hash"], name="customer_passport_unique"),
            models.CheckConstraint(condition=models.Q(status__in=UserStatus.values), name="customer_status_valid"),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="customer_created_idx"),
            models.Index(fields=["status"], name="customer_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.phone_mask})"

    # Fields whose plaintext must never be loaded by a read path.
    ENCRYPTED_FIELDS = ("phone_number", "passport_number", "date_of_birth", "card_number")
