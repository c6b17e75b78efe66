"""The readers: each turns an image into lines of text with confidences."""
