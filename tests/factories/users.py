"""Real admin users for permission tests: basic admin access through a group, plus the permissions asked for."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.test import Client


def editor_client(django_user_model, name: str, *perms: str) -> Client:
    """A logged-in client of an editor with Wagtail admin access and these personalization permissions."""
    user = django_user_model.objects.create_user(name, password="pw-12345-long")
    group = Group.objects.create(name=f"Editors {name}")
    group.permissions.add(Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin"))
    for perm in perms:
        group.permissions.add(Permission.objects.get(content_type__app_label="personalization", codename=perm))
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    return client


def permitted_client(django_user_model, name: str, *perms: str) -> Client:
    """A logged-in client of an editor with Wagtail admin access and these ``app.codename`` permissions."""
    user = django_user_model.objects.create_user(name, password="pw-12345-long")
    group = Group.objects.create(name=f"Editors {name}")
    for perm in ("wagtailadmin.access_admin", *perms):
        app, codename = perm.split(".")
        group.permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    return client
