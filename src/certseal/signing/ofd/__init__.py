"""OFD signing per GB/T 33190 ch. 18 with GB/T 38540 SES_Signature."""
