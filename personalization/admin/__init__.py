"""Admin screens: the Models and Behaviour clusters views that ``wagtail_hooks`` registers."""
