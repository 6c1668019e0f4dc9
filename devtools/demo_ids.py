"""The demo agency's account ids: what the seed provisions and the demo tokens name."""

AGENCY_ID = "agency_demo"
SHARED_ID = "acct_shared"
OWN_1_ID = "acct_own_1"
OWN_2_ID = "acct_own_2"
