package objectstore

import (
	"net/netip"
	"strings"
	"unicode/utf8"
)

// MaxKeyLength is the longest object key S3 accepts, in bytes of UTF-8.
const MaxKeyLength = 1024

// ValidateBucketName checks name against S3's rules for general purpose buckets: 3 to 63 characters of lower-case
// letters, digits, dots and hyphens, starting and ending with a letter or digit, no two adjacent dots, not an IP
// address, none of the reserved prefixes and suffixes. It returns ErrInvalidBucketName.
func ValidateBucketName(name string) error {
	bad := func() error {
		return ErrInvalidBucketName.With("The specified bucket is not valid.").WithExtra("BucketName", name)
	}
	if len(name) < 3 || len(name) > 63 {
		return bad()
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '.' || c == '-':
			if i == 0 || i == len(name)-1 {
				return bad()
			}
			if c == '.' && name[i-1] == '.' {
				return bad()
			}
		default:
			return bad()
		}
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return bad()
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return bad()
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return bad()
		}
	}
	return nil
}

// ValidateKey checks an object key: non-empty valid UTF-8 of at most MaxKeyLength bytes.
func ValidateKey(key string) error {
	if key == "" {
		return ErrInvalidArgument.With("Object key must not be empty")
	}
	if len(key) > MaxKeyLength {
		return ErrKeyTooLong.With("Your key is too long").
			WithExtra("MaxSizeAllowed", "1024").WithExtra("Size", itoa(int64(len(key))))
	}
	if !utf8.ValidString(key) {
		return ErrInvalidArgument.With("Object key is not valid UTF-8")
	}
	return nil
}
