package objectstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A CompleteMultipartUpload that succeeded may be sent again: a client whose connection dropped before the answer
// arrived retries it, and S3 answers the retry as it answered the first request. The upload itself is gone by
// then, so each bucket keeps a record of the uploads it completed lately, written in the transaction that made
// the object: a retry is answered from it while the parts list is the same and the object that upload made is
// still the key's current version; otherwise the upload is gone (NoSuchUpload), as S3 says.
//
// In the bucket's data, under completedName:
//
//	'u' + upload seq (8)      -> completion seq (8)
//	'c' + completion seq (8)  -> completedRecord (JSON)
//
// Completion seqs come from the bucket's sequence, so 'c' entries run from the oldest completion to the newest and
// the oldest are dropped first; the sub-bucket's own sequence counts the records.
const (
	// completedUploadTTL is how long a completed upload can be completed again.
	completedUploadTTL = 24 * time.Hour
	// completedUploadsKept bounds the records a bucket keeps (the newest completions stay).
	completedUploadsKept = 10000
)

var completedName = []byte("d")

// completedRecord is what a completion made, enough to recognise a retry and to answer it.
type completedRecord struct {
	UploadID string `json:"id"`
	Key      string `json:"k"`
	// Parts is the SHA-256 of the parts list (completedParts).
	Parts []byte `json:"p"`
	// VersionID and Modified name the version the completion made (Modified tells apart two null versions).
	VersionID string `json:"v"`
	Modified  int64  `json:"m"`
	// Completed is when the upload was completed.
	Completed int64 `json:"t"`
}

// completedParts digests a parts list: numbers and ETags, as Complete lists them.
func completedParts(parts []CompletedPart) []byte {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d %s\n", p.PartNumber, trimETag(p.ETag))
	}
	return h.Sum(nil)
}

func completedKey(prefix byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefix}, seq)
}

// recordCompleted notes in data that the upload (seq) made rec, then drops the records that are too old or too
// many.
func (s *Store) recordCompleted(data *bolt.Bucket, seq uint64, in CompleteUploadInput, rec *record) error {
	d, err := data.CreateBucketIfNotExists(completedName)
	if err != nil {
		return err
	}
	cseq, err := data.NextSequence()
	if err != nil {
		return err
	}
	now := s.now().UnixNano()
	val, err := json.Marshal(completedRecord{UploadID: in.UploadID, Key: in.Key, Parts: completedParts(in.Parts),
		VersionID: rec.VersionID, Modified: rec.Modified, Completed: now})
	if err != nil {
		return err
	}
	if err := d.Put(completedKey('u', seq), binary.BigEndian.AppendUint64(nil, cseq)); err != nil {
		return err
	}
	if err := d.Put(completedKey('c', cseq), val); err != nil {
		return err
	}
	n := d.Sequence() + 1
	// Oldest first: drop while there are too many or the oldest has expired.
	var drop [][]byte
	c := d.Cursor()
	for k, v := c.Seek([]byte{'c'}); k != nil && k[0] == 'c'; k, v = c.Next() {
		var r completedRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("index: completed upload: %w", err)
		}
		if n <= uint64(s.completedKept) && time.Duration(now-r.Completed) < completedUploadTTL {
			break
		}
		useq, ok := seqOfID(r.UploadID, uploadIDRandom)
		if ok {
			drop = append(drop, completedKey('u', useq))
		}
		drop = append(drop, bytes.Clone(k))
		n--
	}
	for _, k := range drop {
		if err := d.Delete(k); err != nil {
			return err
		}
	}
	return d.SetSequence(n)
}

// completedRetry answers a Complete of an upload that is gone: the key's current version, when the upload made it
// (within completedUploadTTL) from the same parts list; nil otherwise.
func (s *Store) completedRetry(data *bolt.Bucket, in CompleteUploadInput) (*record, error) {
	d := data.Bucket(completedName)
	seq, ok := seqOfID(in.UploadID, uploadIDRandom)
	if d == nil || !ok {
		return nil, nil
	}
	cseq := d.Get(completedKey('u', seq))
	if len(cseq) != 8 {
		return nil, nil
	}
	v := d.Get(completedKey('c', binary.BigEndian.Uint64(cseq)))
	if v == nil {
		return nil, nil
	}
	var r completedRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("index: completed upload: %w", err)
	}
	if r.UploadID != in.UploadID || r.Key != in.Key || !bytes.Equal(r.Parts, completedParts(in.Parts)) ||
		time.Duration(s.now().UnixNano()-r.Completed) >= completedUploadTTL {
		return nil, nil
	}
	_, cur, err := latestVersion(data.Bucket(versionsName), in.Key, false)
	if err != nil || cur == nil || cur.DeleteMarker || cur.VersionID != r.VersionID || cur.Modified != r.Modified {
		return nil, err
	}
	return cur, nil
}
