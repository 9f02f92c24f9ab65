"""People (人员): anyone the associations deal with — members, aid recipients, household members."""
