"""``sasrec``: a causal self-attention next-item model (Kang & McAuley 2018), trained in torch,
served from numpy arrays (torch is needed to fit only)."""
