package cache

import "time"

// ParseHTTPDate parses an HTTP-date (RFC 9110 5.6.7) strictly by its
// grammar: the IMF-fixdate every sender must use
// ("Sun, 06 Nov 1994 08:49:37 GMT": fixed widths, single spaces, two-digit
// hours, "GMT"), and the two obsolete forms a recipient must accept,
// rfc850-date ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime-date
// ("Sun Nov  6 08:49:37 1994"). Names are case-sensitive (%s"..." in the
// grammar). Anything else (runs of spaces, one-digit hours, a missing GMT,
// a day the month does not have, trailing bytes) is invalid: ok is false.
// The day name is checked against the grammar, not against the date.
//
// A two-digit rfc850 year is taken in the century that puts the date at
// most 50 years after now (RFC 9110 5.6.7).
func ParseHTTPDate(s string) (t time.Time, ok bool) {
	return parseHTTPDate(s, time.Now())
}

func parseHTTPDate(s string, now time.Time) (time.Time, bool) {
	switch {
	case len(s) == 29 && s[3] == ',':
		// IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT
		// date1 = day SP month SP year (2DIGIT SP 3ALPHA SP 4DIGIT)
		if !isDayName(s[:3]) || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[25:] != " GMT" {
			return time.Time{}, false
		}
		day, ok1 := digits(s[5:7])
		mon, ok2 := month(s[8:11])
		year, ok3 := digits(s[12:16])
		if !ok1 || !ok2 || !ok3 {
			return time.Time{}, false
		}
		return build(year, mon, day, s[17:25])
	case len(s) == 24 && s[3] == ' ':
		// asctime-date = day-name SP date3 SP time-of-day SP year
		// date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
		if !isDayName(s[:3]) || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' {
			return time.Time{}, false
		}
		mon, ok1 := month(s[4:7])
		var day int
		var ok2 bool
		if s[8] == ' ' {
			day, ok2 = digits(s[9:10])
		} else {
			day, ok2 = digits(s[8:10])
		}
		year, ok3 := digits(s[20:24])
		if !ok1 || !ok2 || !ok3 {
			return time.Time{}, false
		}
		return build(year, mon, day, s[11:19])
	}
	// rfc850-date = day-name-l "," SP date2 SP time-of-day SP GMT
	// date2 = day "-" month "-" 2DIGIT
	comma := -1
	for i := 0; i < len(s) && i < 10; i++ {
		if s[i] == ',' {
			comma = i
			break
		}
	}
	if comma < 0 || !isLongDay(s[:comma]) {
		return time.Time{}, false
	}
	r := s[comma+1:]
	// SP 2DIGIT "-" 3ALPHA "-" 2DIGIT SP 8 SP "GMT"
	if len(r) != 23 || r[0] != ' ' || r[3] != '-' || r[7] != '-' || r[10] != ' ' || r[19:] != " GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(r[1:3])
	mon, ok2 := month(r[4:7])
	yy, ok3 := digits(r[8:10])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	// RFC 9110 5.6.7: a year more than 50 years in the future is the most
	// recent past year with the same last two digits.
	year := now.UTC().Year()/100*100 + yy
	if year > now.UTC().Year()+50 {
		year -= 100
	}
	return build(year, mon, day, r[11:19])
}

// build checks time-of-day ("HH:MM:SS", RFC 9110 5.6.7: hour 00-23,
// minute 00-59, second 00-60 for a leap second) and the day of the month.
func build(year int, mon time.Month, day int, tod string) (time.Time, bool) {
	if tod[2] != ':' || tod[5] != ':' {
		return time.Time{}, false
	}
	hh, ok1 := digits(tod[0:2])
	mm, ok2 := digits(tod[3:5])
	ss, ok3 := digits(tod[6:8])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	if day < 1 || day > daysIn(year, mon) {
		return time.Time{}, false
	}
	return time.Date(year, mon, day, hh, mm, ss, 0, time.UTC), true
}

func daysIn(year int, m time.Month) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}

func month(s string) (time.Month, bool) {
	// %s"Jan" ... %s"Dec": case-sensitive (RFC 9110 5.6.7).
	const names = "JanFebMarAprMayJunJulAugSepOctNovDec"
	if len(s) != 3 {
		return 0, false
	}
	for i := 0; i < len(names); i += 3 {
		if names[i:i+3] == s {
			return time.Month(i/3 + 1), true
		}
	}
	return 0, false
}

func isDayName(s string) bool {
	switch s {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
		return true
	}
	return false
}

func isLongDay(s string) bool {
	switch s {
	case "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday":
		return true
	}
	return false
}
