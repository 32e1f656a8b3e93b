from django.apps import AppConfig


def plan_resource(plan) -> dict:
    """A plan as ``GET /plans/{id}/`` shows it: the ``data`` of ``plan.*`` events."""
    from plans.api import PlanSerializer

    return PlanSerializer(plan).data


def installment_resource(installment) -> dict:
    """An installment as a plan lists it, with its plan and user: the ``data`` of ``installment.*`` events."""
    from plans.api import InstallmentSerializer

    return {**InstallmentSerializer(installment).data, "plan_id": str(installment.plan_id),
            "user_id": str(installment.user_id)}


class PlansConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "plans"

    def ready(self) -> None:
        from events.types import register_representer

        register_representer("plan", plan_resource)
        register_representer("installment", installment_resource)
