"""The integrations REST API under /api/v1/ (Django REST framework, documented by drf-spectacular).

Each view is: input serializer → service → output serializer. Reads go through
verification.selectors, so every queryset is scoped to the caller's teams there.
"""
