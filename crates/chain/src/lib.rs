//! Block building, import, finalization and notifications
