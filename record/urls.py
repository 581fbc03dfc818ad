from django.urls import path

from . import views

app_name = "record"

urlpatterns = [
    path("receipt/", views.receipt, name="receipt"),
    path("receipt/proof.json", views.receipt_proof, name="receipt_proof"),
    path("record/", views.index, name="index"),
    path("record/<slug:slug>/", views.poll_record, name="poll"),
    path("record/<slug:slug>/checkpoints.jsonl", views.checkpoints_file, name="checkpoints"),
    path(
        "record/<slug:slug>/checkpoints/<int:number>.json",
        views.checkpoint_file,
        name="checkpoint",
    ),
    path("record/<slug:slug>/entries.jsonl", views.entries_file, name="entries"),
    path("record/<slug:slug>/public_key.pem", views.public_key_file, name="public_key"),
    path("record/<slug:slug>/package.zip", views.package_file, name="package"),
]
