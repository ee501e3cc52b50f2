"""Who may do what: passwords, sessions, client tokens, the rule table and the audit log. No Flask here."""
