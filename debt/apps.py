from django.apps import AppConfig


def repayment_resource(repayment) -> dict:
    """A repayment as ``GET /debt/{user_id}/repayments/`` lists it: the ``data`` of ``repayment.created``."""
    from debt.api import RepaymentSerializer

    return RepaymentSerializer(repayment).data


def user_resource(user) -> dict:
    """A user as ``GET /users/{id}/`` shows it (masked): the ``data`` of ``user.status_changed``.

    Registered here, not in ``users``: the debt status is this app's, and ``users`` sits below
    ``events`` in the dependency order."""
    from users.api import UserSerializer

    return UserSerializer(user).data


class DebtConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "debt"

    def ready(self) -> None:
        from events.types import register_representer

        register_representer("repayment", repayment_resource)
        register_representer("user", user_resource)
