"""Results: what each slot's variants achieved, rolled up per day and compared by the statistics engine.

``rollup`` turns the decision log and its attributed rewards into ``VariantDay`` rows (hourly
by beat, and before ``manage.py results``); ``selectors`` reads those rows for a window and
builds the results contract through ``engine.statistics.experiment_compare``. Requests and
screens read rollups, never raw events.
"""
