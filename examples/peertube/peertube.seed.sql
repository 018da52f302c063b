-- A few rows shaped like PeerTube's account and video tables (written for this example).
CREATE TABLE public.account (
    id serial PRIMARY KEY,
    name character varying(255) NOT NULL,
    "createdAt" timestamp with time zone NOT NULL DEFAULT '2024-01-01T00:00:00Z'
);
CREATE TABLE public.video (
    id serial PRIMARY KEY,
    uuid uuid NOT NULL UNIQUE,
    name character varying(255) NOT NULL,
    duration integer NOT NULL,
    views integer NOT NULL DEFAULT 0,
    "accountId" integer NOT NULL REFERENCES public.account (id) ON DELETE CASCADE
);
INSERT INTO public.account (name) VALUES ('root'), ('channel_of_alice');
INSERT INTO public.video (uuid, name, duration, views, "accountId") VALUES
    ('9c9de5e8-0a1e-484a-b099-e80766180a6d', 'Welcome to PeerTube', 120, 42, 1),
    ('a3c6e2a1-5f7b-4b9e-9d3c-2f1e8b7a6c5d', 'Cooking with Alice', 600, 7, 2);
