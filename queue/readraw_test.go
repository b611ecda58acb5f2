package queue

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tui/internal/redistest"
)

// The worker's own parse of XREADGROUP's reply reads what go-redis reads,
// on both protocols: packed jobs, jobs of one field per value (an older
// tui), and entries that are no job. Each campaign's stream is read twice
// from the start, by the workers' group through the raw read and by a
// second group through go-redis's XReadGroup, and the two must agree.
func TestRawReadReadsWhatGoRedisReads(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), Protocol: proto})
			defer rdb.Close()
			rdb.FlushAll(ctx)
			campaigns := []uint64{7, 8}
			for _, id := range campaigns {
				key := JobsKey(id)
				for _, g := range []string{Group, "typed"} {
					if err := rdb.XGroupCreateMkStream(ctx, key, g, "0").Err(); err != nil {
						t.Fatal(err)
					}
				}
				for c := uint64(1); c <= 300; c++ {
					j := Job{CampaignID: id, ContactID: c, Round: 1, Attempt: 1 + int(c%3), To: fmt.Sprintf("c%d@example.com", c),
						Channel: "smtp", Subject: "Hello é " + strconv.FormatUint(c, 10), Body: "line one\r\nline two\n$3\r\n*2",
						Epoch: "k1", Redelivery: c%5 == 0, Format: "markdown"}
					if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, ID: j.StreamID(), Values: PackedValues(&j)}).Err(); err != nil {
						t.Fatal(err)
					}
				}
				// An older tui's job, a job whose packing is damaged, an entry
				// of one field that is no job, and one of no job at all.
				others := [][]any{
					{"key", fmt.Sprintf("%d:400", id), "contact", 400, "round", 1, "attempt", 2, "to", "old@example.com",
						"channel", "file", "subject", "S", "body", "B"},
					{JobField, "3:key,7:"},
					{"note", "not a job"},
					{"a", "1", "b", "2", "c", "3"},
				}
				for i, v := range others {
					if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, ID: "2-" + strconv.Itoa(i+1), Values: v}).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}
			streams := []string{JobsKey(7), JobsKey(8), ">", ">"}
			got, err := readRaw(ctx, rdb, "w1", streams, campaigns, 1000, 10*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "typed", Consumer: "w1", Streams: streams,
				Count: 1000, Block: 10 * time.Millisecond}).Result()
			if err != nil {
				t.Fatal(err)
			}
			want := fromStreams(res, campaigns)
			if len(got) != 2*304 || len(want) != len(got) {
				t.Fatalf("raw read %d entries, go-redis %d; want %d", len(got), len(want), 2*304)
			}
			bad := 0
			for i := range got {
				g, w := got[i], want[i]
				if fmt.Sprint(g.Err) != fmt.Sprint(w.Err) {
					t.Fatalf("entry %d (%s): error %v, go-redis %v", i, w.EntryID, g.Err, w.Err)
				}
				g.Err, w.Err = nil, nil
				if !reflect.DeepEqual(g, w) {
					t.Fatalf("entry %d:\n raw    %+v\n go-redis %+v", i, g, w)
				}
				if got[i].Err != nil {
					bad++
				}
			}
			if bad != 2*3 {
				t.Errorf("%d entries read as no job, want 6 (three a campaign)", bad)
			}
			if got[0].CampaignID != 7 || got[len(got)-1].CampaignID != 8 || got[0].Job.Subject != "Hello é 1" ||
				got[300].Job.To != "old@example.com" || got[300].Job.Attempt != 2 {
				t.Errorf("read %+v … %+v", got[0], got[300])
			}

			// Nothing new: a null reply, of either protocol, is no jobs.
			got, err = readRaw(ctx, rdb, "w1", streams, campaigns, 10, 5*time.Millisecond)
			if err != nil || len(got) != 0 {
				t.Fatalf("a read of nothing gave %d jobs, %v", len(got), err)
			}

			// A refusal is Redis's own words, as a redis.Error, and nothing read.
			_, err = readRaw(ctx, rdb, "w1", []string{JobsKey(99), ">"}, []uint64{99}, 10, 5*time.Millisecond)
			var re redis.Error
			if !IsNoGroup(err) || !errors.As(err, &re) {
				t.Fatalf("a read of a missing group: %v (%T), want NOGROUP as a redis.Error", err, err)
			}
			// Through ReadJobs it is read again as go-redis reads, with the
			// same answer.
			if _, err := ReadJobs(ctx, rdb, "w1", []uint64{99}, 10, 5*time.Millisecond); !IsNoGroup(err) {
				t.Fatalf("ReadJobs of a missing group: %v", err)
			}
		})
	}
}

// A reply cut anywhere is an error, never a panic nor jobs made up.
func TestRawReadOfACutReplyIsAnError(t *testing.T) {
	j := Job{CampaignID: 7, ContactID: 1, Round: 1, Attempt: 1, To: "a@example.com", Channel: "file", Subject: "S", Body: "B"}
	packed := PackedValues(&j)[1].(string)
	entry := "*2\r\n$3\r\n1-1\r\n*2\r\n$3\r\njob\r\n$" + strconv.Itoa(len(packed)) + "\r\n" + packed + "\r\n"
	for _, whole := range []string{
		"*1\r\n*2\r\n$" + strconv.Itoa(len(JobsKey(7))) + "\r\n" + JobsKey(7) + "\r\n*2\r\n" + entry + entry,
		"%1\r\n$" + strconv.Itoa(len(JobsKey(7))) + "\r\n" + JobsKey(7) + "\r\n*2\r\n" + entry + entry,
	} {
		got, err := parseReadReply([]byte(whole), []uint64{7})
		if err != nil || len(got) != 2 || got[0].Err != nil || got[1].Job.To != "a@example.com" {
			t.Fatalf("the whole reply: %+v, %v", got, err)
		}
		for n := 1; n < len(whole); n++ {
			if got, err := parseReadReply([]byte(whole[:n]), []uint64{7}); err == nil {
				t.Fatalf("cut at %d of %d: no error, %d jobs", n, len(whole), len(got))
			}
			// Two tries' bytes, should go-redis ever try a raw read again
			// after a cut: an error, never jobs read out of place.
			if got, err := parseReadReply([]byte(whole[:n]+whole), []uint64{7}); err == nil {
				t.Fatalf("cut at %d of %d, then whole: no error, %d jobs", n, len(whole), len(got))
			}
		}
	}
	for _, s := range []string{"*-1\r\n", "_\r\n", "*0\r\n", "%0\r\n"} {
		if got, err := parseReadReply([]byte(s), []uint64{7}); err != nil || len(got) != 0 {
			t.Errorf("%q: %d jobs, %v", s, len(got), err)
		}
	}
	for _, s := range []string{"-NOGROUP No such key\r\n", "!21\r\nNOGROUP No such key!!\r\n"} {
		if _, err := parseReadReply([]byte(s), []uint64{7}); !IsNoGroup(err) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// The raw read has the client's read timeout alone, without the block on
// top of it as go-redis's XREADGROUP has: with a short timeout the read is
// go-redis's.
func TestRawReadOnlyWithinTheReadTimeout(t *testing.T) {
	for _, c := range []struct {
		rt   time.Duration
		want bool
	}{{0, true}, {-1, true}, {-2, true}, {time.Second, true}, {900 * time.Millisecond, false}} {
		rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ReadTimeout: c.rt})
		if got := rawReadFits(rdb, 500*time.Millisecond); got != c.want {
			t.Errorf("read timeout %v: raw read %v, want %v", c.rt, got, c.want)
		}
		rdb.Close()
	}
	var _ rawDoer = (*redis.Conn)(nil) // reads that wait for a replica
}

// Whatever bytes come, the parse answers without a panic, and never with
// more entries than the bytes can hold.
func FuzzParseReadReply(f *testing.F) {
	j := Job{CampaignID: 7, ContactID: 1, Round: 1, Attempt: 1, To: "a@example.com", Channel: "file", Subject: "S", Body: "B"}
	packed := PackedValues(&j)[1].(string)
	entry := "*2\r\n$3\r\n1-1\r\n*2\r\n$3\r\njob\r\n$" + strconv.Itoa(len(packed)) + "\r\n" + packed + "\r\n"
	key := "$" + strconv.Itoa(len(JobsKey(7))) + "\r\n" + JobsKey(7) + "\r\n"
	for _, s := range []string{
		"*1\r\n*2\r\n" + key + "*2\r\n" + entry + entry,
		"%1\r\n" + key + "*1\r\n" + entry,
		"*1\r\n*2\r\n" + key + "*1\r\n*2\r\n$3\r\n1-2\r\n*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n",
		"*1\r\n*2\r\n" + key + "*1\r\n*4\r\n$3\r\n1-3\r\n*-1\r\n:5\r\n:1\r\n",
		"*-1\r\n", "_\r\n", "-NOGROUP x\r\n", "*99999999999\r\n", "*1\r\n*2\r\n$9223372036854775806\r\n",
		"*1\r\n*2\r\n" + key + "*999999999999\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseReadReply(b, []uint64{7})
		if err == nil && len(got) > len(b)/minEntry {
			t.Fatalf("%d entries from %d bytes", len(got), len(b))
		}
	})
}
