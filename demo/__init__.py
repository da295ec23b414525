"""The demo site: page types, ``seed_demo``, the benchmark pages and the simulated traffic.

One Wagtail site using Tailor; the installed plugin (``content``, ``tracking``,
``personalization``) never imports it, and the wheel leaves it out.
"""
