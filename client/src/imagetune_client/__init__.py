"""imagetune-client: upload an image, wait for the job, download the larger result.

from imagetune_client import Client

with Client("http://127.0.0.1:8000", api_key="...") as client:
    client.upscale("photo.jpg", scale="4K")  # writes photo-4K.png
"""

from imagetune_client._base import ImageInput, NoResult, ProgressCallback, __version__
from imagetune_client.asyncio_client import AsyncClient
from imagetune_client.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequest,
    IdempotencyKeyReused,
    ImagetuneClientError,
    InvalidImage,
    JobFailed,
    JobNotFound,
    LinkExpired,
    NotFound,
    RateLimited,
    ServerError,
    UploadTooLarge,
    UserNotFound,
    ValidationError,
    WaitTimeout,
)
from imagetune_client.models import Job, Model
from imagetune_client.sync import Client
from imagetune_client.webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequest",
    "Client",
    "IdempotencyKeyReused",
    "ImageInput",
    "ImagetuneClientError",
    "InvalidImage",
    "Job",
    "JobFailed",
    "JobNotFound",
    "LinkExpired",
    "Model",
    "NoResult",
    "NotFound",
    "ProgressCallback",
    "RateLimited",
    "ServerError",
    "UploadTooLarge",
    "UserNotFound",
    "ValidationError",
    "WaitTimeout",
    "WebhookVerificationError",
    "__version__",
    "verify_webhook",
]
