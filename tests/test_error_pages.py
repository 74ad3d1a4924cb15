"""Branded error pages: the site's header and a way back."""

import pytest
from django.test import override_settings
from django.urls import path, reverse

from config.urls import urlpatterns as project_urls


def broken(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", broken), *project_urls]


@pytest.mark.django_db
def test_404_page_has_the_header_and_a_way_back(client, customer):
    client.force_login(customer)

    response = client.get("/orders/999999/")

    assert response.status_code == 404
    html = response.content.decode()
    assert '<header class="site-header">' in html
    assert "find that page" in html
    assert f'href="{reverse("orders:list")}"' in html
    assert "data-bell" in html


@override_settings(ROOT_URLCONF=__name__)
def test_500_page_has_the_header_and_a_way_back(client):
    client.raise_request_exception = False

    response = client.get("/boom/")

    assert response.status_code == 500
    html = response.content.decode()
    assert '<header class="site-header">' in html
    assert "Something went wrong on our side" in html
    assert 'href="/orders/"' in html
