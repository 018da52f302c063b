-- A few rows shaped like Mastodon's accounts and statuses (written for this example).
CREATE TABLE public.accounts (
    id bigint PRIMARY KEY,
    username character varying NOT NULL,
    domain character varying,
    created_at timestamp without time zone NOT NULL DEFAULT '2024-01-01 00:00:00'
);
CREATE UNIQUE INDEX index_accounts_on_username_and_domain ON public.accounts (lower(username), lower(domain));
CREATE TABLE public.statuses (
    id bigint PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES public.accounts (id) ON DELETE CASCADE,
    text text NOT NULL DEFAULT '',
    visibility integer NOT NULL DEFAULT 0,
    created_at timestamp without time zone NOT NULL DEFAULT '2024-01-01 00:00:00'
);
CREATE INDEX index_statuses_on_account_id_id ON public.statuses (account_id, id DESC);
INSERT INTO public.accounts (id, username, domain) VALUES
    (1, 'admin', NULL), (2, 'alice', NULL), (3, 'bob', 'example.social');
INSERT INTO public.statuses (id, account_id, text, visibility) VALUES
    (100, 1, 'Welcome to the instance!', 0), (101, 2, 'Hello, fediverse', 0),
    (102, 2, 'Followers only', 2), (103, 3, 'Boosting from afar', 0);
