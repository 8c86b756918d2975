"""XMP: packets (parse, edit, serialise), emowatch's keywords and namespace in them, and the
containers they live in (JPEG APP1, PNG iTXt, exiftool-written formats, sidecar files)."""
