"""Mergeable column and dataset profiles, and their versioned serialization."""

from loopwise.profiles.categorical import CategoricalProfile
from loopwise.profiles.comoments import CoMoments
from loopwise.profiles.encoder import FeatureEncoder
from loopwise.profiles.histogram import Histogram
from loopwise.profiles.moments import Moments
from loopwise.profiles.numeric import NumericProfile
from loopwise.profiles.others import BooleanProfile, DatetimeProfile, TextProfile
from loopwise.profiles.profile import ColumnProfile, Profile, ProfileOptions, merge, profile

__all__ = [
    "BooleanProfile",
    "CategoricalProfile",
    "CoMoments",
    "ColumnProfile",
    "DatetimeProfile",
    "FeatureEncoder",
    "Histogram",
    "Moments",
    "NumericProfile",
    "Profile",
    "ProfileOptions",
    "TextProfile",
    "merge",
    "profile",
]
