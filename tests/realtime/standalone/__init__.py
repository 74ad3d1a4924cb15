"""realtime/ on its own: a Django project with no shop app (`settings`)."""
