"""The admin's order form: staff cannot save a state that contradicts itself."""

from django import forms
from django.forms.widgets import CheckboxInput, HiddenInput

from orders.models import Order

COMPLETE = 100


class OrderAdminForm(forms.ModelForm):
    """Delivered means 100 %, progress stays within 0 to 100, and lowering it is confirmed."""

    progress = forms.IntegerField(
        min_value=0, max_value=COMPLETE, initial=0, help_text="Percent, 0 to 100."
    )
    confirm_lower_progress = forms.BooleanField(
        required=False,
        widget=HiddenInput,
        label="Yes, lower the progress",
        help_text="Customers watching the order see the bar go back.",
    )

    class Meta:
        model = Order
        fields = [
            "number",
            "customer",
            "status",
            "progress",
            "status_message",
            "estimated_delivery",
        ]

    def clean(self):
        cleaned = super().clean()
        status, progress = cleaned.get("status"), cleaned.get("progress")
        if progress is None:
            return cleaned
        if status == Order.Status.DELIVERED and progress != COMPLETE:
            if "progress" in self.changed_data:
                self.add_error("progress", "A delivered order is at 100 %.")
                return cleaned
            # Staff chose Delivered and left the bar alone: complete it.
            cleaned["progress"] = COMPLETE
            return cleaned
        before = self.initial.get("progress")
        lowered = self.instance.pk and before is not None and progress < before
        if lowered and not cleaned.get("confirm_lower_progress"):
            self.fields["confirm_lower_progress"].widget = CheckboxInput()
            self.add_error(
                "progress",
                f"This lowers the progress from {before} % to {progress} %. "
                "Tick “Yes, lower the progress” below to save it anyway.",
            )
        return cleaned
