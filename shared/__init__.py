"""Common code of the Xinfang services: settings, database, events, messaging, auth, errors."""
