"""OCPI 2.2.1, CPO role: versions, credentials, modules, and the push client to eMSP partners."""
