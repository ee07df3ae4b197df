//! End-to-end tests only: see tests/it. This library is empty on purpose.
