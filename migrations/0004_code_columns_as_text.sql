-- Currency and country codes as text with a length check, instead of char(n): a char(n) value
-- comes back blank-padded to n, so every reader had to strip it.  COLLATE "C" compares the
-- (ASCII) codes byte by byte in the keys that hold them (the balances' primary key, the postings'
-- account index); codes sort the same as before.  Each table is rewritten once (one ALTER TABLE
-- per table), its indexes with it.
ALTER TABLE postings
    ALTER COLUMN currency TYPE text COLLATE "C",
    ADD CONSTRAINT postings_currency_code CHECK (char_length(currency) = 3);
ALTER TABLE balances
    ALTER COLUMN currency TYPE text COLLATE "C",
    ADD CONSTRAINT balances_currency_code CHECK (char_length(currency) = 3);
ALTER TABLE funds
    ALTER COLUMN currency TYPE text COLLATE "C",
    ADD CONSTRAINT funds_currency_code CHECK (char_length(currency) = 3);
ALTER TABLE programs
    ALTER COLUMN currency TYPE text COLLATE "C",
    ADD CONSTRAINT programs_currency_code CHECK (char_length(currency) = 3);
ALTER TABLE agreements
    ALTER COLUMN currency TYPE text COLLATE "C",
    ADD CONSTRAINT agreements_currency_code CHECK (char_length(currency) = 3);
ALTER TABLE claim_items
    ALTER COLUMN currency TYPE text COLLATE "C",
    ADD CONSTRAINT claim_items_currency_code CHECK (char_length(currency) = 3);
ALTER TABLE payouts
    ALTER COLUMN currency TYPE text COLLATE "C",
    ADD CONSTRAINT payouts_currency_code CHECK (char_length(currency) = 3);
ALTER TABLE creators
    ALTER COLUMN country TYPE text COLLATE "C",
    ADD CONSTRAINT creators_country_code CHECK (char_length(country) = 2);
