-- The pages (issue 12): where a file was in the folder a patient uploaded whole (a CD's
-- contents), shown beside its name. Owned by package cases, like the rest of documents.

ALTER TABLE documents ADD COLUMN relative_path text NOT NULL DEFAULT '';
