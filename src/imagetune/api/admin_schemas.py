"""Request and response bodies of the admin API (imagetune.api.admin)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from imagetune.accounts import USER_NAME_PATTERN, KeyInfo, UserInfo
from imagetune.jobs.budgets import MAX_MEGAPIXELS
from imagetune.jobs.usage import MEGAPIXEL, megapixels


class UserRequest(BaseModel):
    name: str = Field(
        pattern=USER_NAME_PATTERN,
        description="1 to 64 characters: no slash, no control characters, no white space "
        "at either end.",
    )


class UserResponse(BaseModel):
    name: str
    created_at: datetime
    active_keys: int = Field(description="Keys not revoked.")
    monthly_output_megapixels: float | None = Field(
        description="The user's monthly budget; null: none."
    )

    @classmethod
    def of(cls, user: UserInfo, budget_pixels: int | None) -> UserResponse:
        return cls(
            name=user.name,
            created_at=user.created_at,
            active_keys=user.active_keys,
            monthly_output_megapixels=None if budget_pixels is None else megapixels(budget_pixels),
        )


class CreatedKeyResponse(BaseModel):
    key: str = Field(description="The API key: shown here once, stored only as a hash.")
    prefix: str = Field(description="How the key is named from now on (list, revoke).")
    created_at: datetime


class KeyResponse(BaseModel):
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="When the key last authenticated a request, to the minute; null: never."
    )
    revoked: bool
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: KeyInfo) -> KeyResponse:
        return cls(
            prefix=key.prefix,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked=key.revoked_at is not None,
            revoked_at=key.revoked_at,
        )


class BudgetRequest(BaseModel):
    monthly_output_megapixels: float | None = Field(
        ge=0,
        le=MAX_MEGAPIXELS,
        allow_inf_nan=False,
        description="Output megapixels the user's jobs may deliver per calendar month "
        "(UTC); null clears the budget. 0 refuses every submission.",
    )

    @property
    def pixels(self) -> int | None:
        value = self.monthly_output_megapixels
        return None if value is None else round(value * MEGAPIXEL)
