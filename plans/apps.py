from django.apps import AppConfig


class PlansConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "plans"

    def ready(self) -> None:
        from events.types import register_representer, serializer_representer

        # plan.*: a plan as GET /plans/{id}/ shows it. installment.*: an installment as a plan lists
        # it, with its plan and user.
        from plans.api import plan_representer

        register_representer("plan", plan_representer())
        register_representer("installment", serializer_representer(
            "plans.api.InstallmentSerializer", plan_id=lambda i: str(i.plan_id), user_id=lambda i: str(i.user_id)))
        # fee.assessed: the late fee and its installment, as it stood right after the fee.
        register_representer("fee", serializer_representer("plans.api.LateFeeSerializer"))
