from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """``?page=2&page_size=50``; at most 100 per page so a list request stays cheap."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
