"""Ad-hoc charging paid by card: a hold on the card, the session, the final amount captured (DESIGN: the
``payments`` transport talks to the card processor; this package holds the state and the rules)."""
