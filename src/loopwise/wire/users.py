"""Managing the people who sign in with a password, over HTTP (admins only; docs/review.md; decision 0042)."""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictStr

from loopwise.wire.registry import Strict


class UserOut(BaseModel):
    """A user: never a password, nor its hash."""

    name: str
    role: str
    disabled: bool
    models: list[str]


class UserList(BaseModel):
    users: list[UserOut]


class NewUser(Strict):
    """A user to create: a reviewer needs at least one model; the password at least 10 characters."""

    name: StrictStr = Field(min_length=1, max_length=200)
    password: StrictStr = Field(min_length=1, max_length=1000)
    role: StrictStr
    models: list[StrictStr] = Field(default_factory=list, max_length=1000)


class UserModels(Strict):
    """Models to grant to (or take back from) a user."""

    models: list[StrictStr] = Field(min_length=1, max_length=1000)


class UserRole(Strict):
    role: StrictStr


class NoBody(Strict):
    """An empty object (the body may be left out)."""
