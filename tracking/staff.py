"""Who is an editor, for ``TAILOR["EXCLUDE_STAFF"]``: their own visits must not teach Tailor anything.

An editor checking the site clicks its heroes and reloads its pages far more than any visitor, and always
the same way: learned from, that would skew the models, the bandits and the results toward whatever the
team looks at. So their page views are served as usual (they see what a visitor like them sees) but their
decisions are not recorded (``tracking.decision_sinks.DecisionBatchUnless``) and the events API drops their
events. Not recorded rather than recorded and filtered: every reader of the log (training, bandits, results,
guardrails, exports) would have to remember the filter, and one that forgot would count them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user

from .conf import setting

ADMIN_ACCESS = "wagtailadmin.access_admin"  # Wagtail's editors need not be Django staff: either counts


def staff_excluded(request: Any) -> bool:
    """Whether the request's signed-in user is an editor whose visits ``EXCLUDE_STAFF`` keeps out of learning."""
    if not setting("EXCLUDE_STAFF"):
        return False
    user = getattr(request, "user", None)
    if (user is None or not user.is_authenticated) and hasattr(request, "session"):
        # The session's user: the tracker's APIs (events, decisions) authenticate nobody, and DRF then sets
        # request.user to an anonymous one, though the editor's session cookie came with the request.
        user = get_user(request)
    if user is None or not user.is_authenticated:
        return False
    return bool(user.is_staff or user.is_superuser or user.has_perm(ADMIN_ACCESS))
