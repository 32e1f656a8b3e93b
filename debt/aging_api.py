"""HTTP for the aging report (API.md §13): ``GET /api/v1/reports/aging/``, operators only."""
from drf_yasg import openapi
from drf_yasg.utils import swagger_auto_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from bnpl.api_fields import CurrencyField, MoneyField
from bnpl.errors import ValidationFailed
from bnpl.models import Role
from bnpl.schema import problem_response
from bnpl.strict_fields import parse_uuid
from debt.aging import aging_report, aging_report_as_of
from ledger.params import AS_OF_PARAMETER, as_of_param
from merchants.models import Merchant


class ReportBucketSerializer(serializers.Serializer):
    bucket = serializers.CharField(help_text="Days past due (as_of - due_date - BNPL_GRACE_DAYS): `1-30`, ..., `91+`.")
    installments = serializers.IntegerField()
    users = serializers.IntegerField(help_text="Distinct customers with an installment in this bucket.")
    amount = MoneyField(help_text="Outstanding on the overdue installments in this bucket.")


class AgingReportSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    currency = CurrencyField()
    buckets = ReportBucketSerializer(many=True, help_text="Every bucket of BNPL_AGING_BUCKETS, in order.")
    total_overdue = MoneyField(help_text="The sum of the buckets' amounts.")
    fees_outstanding = MoneyField(help_text="Late fees outstanding (API.md §13); 0 while no fee is assessed.")


MERCHANT_PARAMETER = openapi.Parameter("merchant_id", openapi.IN_QUERY, type=openapi.TYPE_STRING, format="uuid",
                                       description="Only this merchant's plans. Unknown or malformed: 400.")


def merchant_param(request):
    raw = request.query_params.get("merchant_id")
    if raw is None:
        return None
    merchant_id = parse_uuid(raw)
    if merchant_id is None:
        raise ValidationFailed("merchant_id", "Must be a valid UUID.", "invalid")
    if not Merchant.objects.filter(pk=merchant_id).exists():
        raise ValidationFailed("merchant_id", "No such merchant.", "does_not_exist")
    return merchant_id


class AgingReportView(APIView):
    roles = {"get": {Role.OPERATOR}}

    @swagger_auto_schema(
        operation_id="reports_aging",
        operation_description=(
            "Overdue debt by aging bucket (`BNPL_AGING_BUCKETS`, default `30,60,90` -> `1-30`, `31-60`, `61-90`, "
            "`91+`), every bucket listed. Operators only (others: 403). Days past due are as_of - due date - "
            "BNPL_GRACE_DAYS. Without `as_of`: now, over the installments the overdue rule has marked OVERDUE "
            "(by the sweep or a live debt check). With `as_of=YYYY-MM-DD` (not after today): at the end of that "
            "business day, each installment's outstanding amount rebuilt from the journal (a repayment made "
            "later does not count), overdue when due before that day minus the grace days."),
        manual_parameters=[MERCHANT_PARAMETER, AS_OF_PARAMETER],
        responses={200: AgingReportSerializer,
                   400: problem_response("`validation_error` on `as_of` (not a date YYYY-MM-DD, or after today) "
                                         "or on `merchant_id` (malformed, or no such merchant).")})
    def get(self, request):
        as_of = as_of_param(request)
        merchant_id = merchant_param(request)
        if as_of is None:
            report = aging_report(merchant_id=merchant_id)
        else:
            report = aging_report_as_of(as_of=as_of, merchant_id=merchant_id)
        return Response(AgingReportSerializer(report).data)
