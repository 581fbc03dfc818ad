from django.urls import path

from . import views

app_name = "reforms"

urlpatterns = [
    path("<int:number>/", views.reform_detail, name="detail"),
]
