"""Status history: one row per status change of a user, plan, installment, refund or payout.

Like django-oscar's ``OrderStatusChange``: written by the service that changes the status, in
the same transaction, with who did it (:mod:`bnpl.actor`) and the request id. The object is
referenced by type and id only, so this app depends on no domain app.
"""
import uuid

from django.db import models

from bnpl.modelbase import Model


class ObjectType(models.TextChoices):
    USER = "user"
    PLAN = "plan"
    INSTALLMENT = "installment"
    REFUND = "refund"
    PAYOUT = "payout"


class ActorType(models.TextChoices):
    API_KEY = "api_key"
    WEBHOOK = "webhook"
    SYSTEM = "system"
    ADMIN = "admin"


class AuditEvent(Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    object_type = models.CharField(max_length=16, choices=ObjectType.choices)
    object_id = models.UUIDField()
    field = models.CharField(max_length=32, default="status")
    old = models.CharField(max_length=32, blank=True, default="")
    new = models.CharField(max_length=32)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_name = models.CharField(max_length=100, blank=True, default="")
    request_id = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(object_type__in=ObjectType.values),
                                   name="audit_object_type_valid"),
            models.CheckConstraint(condition=models.Q(actor_type__in=ActorType.values),
                                   name="audit_actor_type_valid"),
        ]
        indexes = [
            models.Index(fields=["object_id", "created_at"], name="audit_object_idx"),
            models.Index(fields=["created_at", "id"], name="audit_created_idx"),
        ]
