"""Imports over HTTP: an uploaded file (ChatGPT export or `mimir export`) is saved, queued
as the background job `imports.run`, and reported through `/api/v1/imports/{id}`."""
