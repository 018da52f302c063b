-- A few rows shaped like Mattermost's users, posts and fileinfo (written for this example).
CREATE TABLE public.users (
    id character varying(26) PRIMARY KEY,
    username character varying(64) NOT NULL UNIQUE,
    email character varying(128) NOT NULL UNIQUE,
    createat bigint NOT NULL
);
CREATE TABLE public.posts (
    id character varying(26) PRIMARY KEY,
    userid character varying(26) NOT NULL REFERENCES public.users (id),
    channelid character varying(26) NOT NULL,
    message character varying(65535) NOT NULL DEFAULT '',
    createat bigint NOT NULL
);
CREATE TABLE public.fileinfo (
    id character varying(26) PRIMARY KEY,
    creatorid character varying(26) NOT NULL REFERENCES public.users (id),
    postid character varying(26) REFERENCES public.posts (id),
    path character varying(512) NOT NULL,
    name character varying(256) NOT NULL,
    size bigint NOT NULL
);
INSERT INTO public.users VALUES
    ('u1aaaaaaaaaaaaaaaaaaaaaaaa', 'sysadmin', 'sysadmin@example.com', 1700000000000),
    ('u2bbbbbbbbbbbbbbbbbbbbbbbb', 'alice', 'alice@example.com', 1700000100000);
INSERT INTO public.posts VALUES
    ('p1aaaaaaaaaaaaaaaaaaaaaaaa', 'u1aaaaaaaaaaaaaaaaaaaaaaaa', 'c1townsquareaaaaaaaaaaaaaa', 'Welcome!', 1700000200000),
    ('p2bbbbbbbbbbbbbbbbbbbbbbbb', 'u2bbbbbbbbbbbbbbbbbbbbbbbb', 'c1townsquareaaaaaaaaaaaaaa', 'Minutes attached', 1700000300000);
INSERT INTO public.fileinfo VALUES
    ('f1aaaaaaaaaaaaaaaaaaaaaaaa', 'u2bbbbbbbbbbbbbbbbbbbbbbbb', 'p2bbbbbbbbbbbbbbbbbbbbbbbb',
     '20240101/teams/noteam/channels/c1/users/u2/f1/minutes.txt', 'minutes.txt', 24),
    ('f2bbbbbbbbbbbbbbbbbbbbbbbb', 'u1aaaaaaaaaaaaaaaaaaaaaaaa', 'p1aaaaaaaaaaaaaaaaaaaaaaaa',
     '20240101/teams/noteam/channels/c1/users/u1/f2/logo.txt', 'logo.txt', 10);
