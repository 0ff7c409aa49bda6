"""One spec module per chapter of the book (see `diffprune.chapter`): its CHAPTER and what is
truly its own. Everything two chapters need lives in the library (`evaluation`, `pipeline`, `plots`)."""
