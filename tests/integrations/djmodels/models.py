"""A model with a version column and one with only ``updated_at``, for ifmatch.django_models."""

from __future__ import annotations

from django.db import models


class Note(models.Model):  # type: ignore[misc]  # Django ships no types
    key = models.CharField(max_length=40, primary_key=True)
    body = models.TextField()
    version = models.IntegerField(default=1)

    class Meta:
        app_label = "djmodels"


class Page(models.Model):  # type: ignore[misc]
    key = models.CharField(max_length=40, primary_key=True)
    body = models.TextField()
    updated_at = models.DateTimeField()

    class Meta:
        app_label = "djmodels"
