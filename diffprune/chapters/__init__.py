"""One spec module per chapter of the book (see `diffprune.chapter`): its CHAPTER and what is
truly its own. Everything two chapters need lives in the library (`evaluation`, `pipeline`, `plots`)."""
import pandas as pd

# Every chapter imports its spec from here. The pages' tables hold sentences (verdicts with their
# intervals, the paper's claims); pandas' default view cuts each cell at 50 characters, mid-number.
pd.set_option("display.max_colwidth", None)
