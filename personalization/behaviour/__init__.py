"""Behaviour: visitors grouped by what they do (k-means clusters over their features)."""
