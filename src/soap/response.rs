//! Reading `syncLead` answers and SOAP faults.
