"""Content: slots of parameterized micro-variants, the SlotBlock that places them, and the demo pages."""
